#!/bin/bash
# Every flag is documented twice: each verb's --help and its man page agree
# (a flag in one and not the other fails, naming it), and every Kaniko
# executor flag listed in tests/kaniko-flags.txt is accepted, or refused in
# one line with exit status 2, and appears in imgbuild-build(1)'s KANIKO
# COMPATIBILITY table.  Verbs come from `imgbuild help`, so a verb or flag
# added later is checked without touching this file.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
M=$IB_SRCDIR/man

# The flags of a --help text: option lines start with spaces and a dash; the
# flags are in the part before the first run of two spaces (the description).
help_flags() {
        awk '/^ +-/ {
                match($0, /^ +/); if (RLENGTH > 8) next
                spec = substr($0, RLENGTH + 1)
                if (match(spec, /  /)) spec = substr(spec, 1, RSTART - 1)
                n = split(spec, w, /[ ,|\[\]]+/)
                for (i = 1; i <= n; i++) {
                        f = w[i]; sub(/=.*/, "", f)
                        if (f ~ /^--?[A-Za-z][A-Za-z0-9-]*$/) print f
                }
        }' | sort -u
}

# The flags of a man page's section $2 (default OPTIONS, with its
# subsections): on `.It` lines, the word after each `Fl` (mdoc renders
# `Fl -x` as --x, `Fl x` as -x) and the dash words after a comma that
# follows it (`Fl -a , -b`).
man_flags() {
        awk -v sect="${2:-OPTIONS}" '
        /^\.Sh / { s = $0; sub(/^\.Sh +/, "", s); on = (s == sect); next }
        on && /^\.It / {
                for (i = 2; i <= NF; i++) {
                        if ($i != "Fl" || i == NF) continue
                        i++
                        while (1) {
                                if ($i ~ /^-?[A-Za-z][A-Za-z0-9-]*$/) print "-" $i
                                if (i + 2 <= NF && $(i + 1) == "," && $(i + 2) ~ /^-/) { i += 2; continue }
                                break
                        }
                }
        }' "$1" | sort -u
}

# compare WHAT HELP-FLAGS MAN-FLAGS: one point per direction, naming what is missing.
compare() {
        local what=$1 h=$2 m=$3 miss
        miss=$(comm -23 <(echo "$h") <(echo "$m") | grep . | tr '\n' ' ')
        is "$miss" "" "$what: every flag of --help is in the man page${miss:+ (missing: $miss)}"
        miss=$(comm -13 <(echo "$h") <(echo "$m") | grep . | tr '\n' ' ')
        is "$miss" "" "$what: every flag of the man page is in --help${miss:+ (missing: $miss)}"
}

# The parsers themselves, on known input, so an empty extraction cannot pass.
is "$(printf '  -f, --dockerfile FILE    the file (not --this)\n      --no-push\n' | help_flags | tr '\n' ' ')" \
        "--dockerfile --no-push -f " "help_flags reads the option column only"
printf '.Sh OPTIONS\n.Bl -tag\n.It Fl f , Fl -file Ar x\n.It Fl -a , -b Ar y\n.El\n.Sh EXAMPLES\n.It Fl -no\n' >"$IB_TMP/t.1"
is "$(man_flags "$IB_TMP/t.1" | tr '\n' ' ')" "--a --b --file -f " "man_flags reads .It Fl in OPTIONS only"

verbs=$("$IMGBUILD" help | awk '/^Verbs:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
like "$verbs" "build" "imgbuild help lists the verbs"
compare "imgbuild (global)" "$("$IMGBUILD" --help | help_flags)" "$(man_flags "$M/imgbuild.1")"
for v in $verbs; do
        page=$M/imgbuild-$v.1
        # a verb with sub-commands (store du, ...) lists them under "Commands:";
        # its flags are those of every sub-command's --help too
        subs=$("$IMGBUILD" "$v" --help 2>&1 | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
        h=$({ "$IMGBUILD" "$v" --help 2>&1; for s in $subs; do "$IMGBUILD" "$v" "$s" --help 2>&1; done; } | help_flags)
        if [ ! -f "$page" ]; then
                # version and help are described in imgbuild(1) and take no options
                case $v in version | help) is "$h" "" "$v: no options and no page of its own"; continue ;; esac
                is "missing" "present" "$v: man/imgbuild-$v.1 exists"
                continue
        fi
        ok "$v: --help exits 0" "$IMGBUILD" "$v" --help
        compare "$v" "$h" "$(man_flags "$page")"
done

# ------------------------------------------------------------ Kaniko's flags
CTX=$IB_TMP/ctx TMP=$IB_TMP/scratch ST=$IB_TMP/store REG=127.0.0.1:9
mkdir -p "$CTX" "$TMP" "$TMP/kaniko" "$TMP/cache-dir"
printf 'FROM scratch AS final\nARG K\nCOPY a /a\n' >"$CTX/Dockerfile"
echo a >"$CTX/a"
# the flags of the KANIKO COMPATIBILITY table: each listed flag must be there
table=$(man_flags "$M/imgbuild-build.1" "KANIKO COMPATIBILITY")
# one build per line, four at a time (the store is shared, as builds may)
lines=()
while IFS= read -r line; do
        case $line in '#'* | '') continue ;; esac
        lines+=("$line")
done <"$IB_SRCDIR/tests/kaniko-flags.txt"
n=${#lines[@]}
for ((i = 0; i < n; i++)); do
        line=${lines[i]//CTX/$CTX}; line=${line//TMP/$TMP}; line=${line//REG/$REG}
        # shellcheck disable=SC2086 # the line is the words to pass
        (cd "$TMP" && "$IMGBUILD" --root "$ST" --no-push --context "$CTX" $line >"$IB_TMP/out.$i" 2>"$IB_TMP/err.$i"
                echo $? >"$IB_TMP/rc.$i") &
        [ $((i % 4)) = 3 ] && wait
done
wait
for ((i = 0; i < n; i++)); do
        line=${lines[i]}
        flag=${line%% *}; flag=${flag%%=*}
        rc=$(cat "$IB_TMP/rc.$i")
        first=$(head -n1 "$IB_TMP/err.$i")
        if [ "$rc" = 0 ]; then
                _tap_point 0 "kaniko $line: accepted"
        elif [ "$rc" = 2 ] && [[ $first == *"not supported"* ]]; then
                _tap_point 0 "kaniko $line: refused (${first:0:70}...)"
        else
                _tap_point 1 "kaniko $line: exit $rc, neither accepted nor refused with a reason"
                diag "$(head -n5 "$IB_TMP/err.$i")"
        fi
        grep -qxF -- "$flag" <<<"$table"
        _tap_point $? "kaniko $flag is in imgbuild-build(1) KANIKO COMPATIBILITY"
done
[ "$n" -gt 50 ]; _tap_point $? "tests/kaniko-flags.txt lists Kaniko's flags ($n lines)"

# The docker habits, with and without a verb.
for line in "-t $REG/x:1" "-f $CTX/Dockerfile" "--build-arg K=V" "--target final" "--label a=b" \
        "--platform linux/amd64" "--no-cache" "-q"; do
        # shellcheck disable=SC2086
        ok "docker build habit $line" "$IMGBUILD" build --root "$ST" --no-push $line "$CTX"
done

# Contexts: remote ones refused in one line with status 2, local forms work.
for c in gs://b/ctx.tgz s3://b/ctx.tgz az://acct/c/ctx.tgz git://example.invalid/r.git; do
        "$IMGBUILD" --root "$ST" --no-push --context "$c" >/dev/null 2>"$IB_TMP/err"; rc=$?
        is "$rc:$(wc -l <"$IB_TMP/err")" "2:1" "context $c: exit 2, one line"
        like "$(cat "$IB_TMP/err")" "not supported" "context $c: says not supported"
done
tar -C "$CTX" -cf "$IB_TMP/ctx.tar" .
ok "tar:// context with -f" "$IMGBUILD" --root "$ST" --no-push --context "tar://$IB_TMP/ctx.tar" -f "$CTX/Dockerfile"
ok "dir:// context" "$IMGBUILD" --root "$ST" --no-push --context "dir://$CTX"

# Accepted-and-ignored flags say so; -q silences the note.
out=$("$IMGBUILD" --root "$ST" --no-push --context "$CTX" --snapshot-mode redo --use-new-run 2>&1 >/dev/null)
like "$out" "note: --snapshot-mode has no effect: snapshots come from the overlay" "--snapshot-mode: the note"
like "$out" "note: --use-new-run has no effect" "--use-new-run: the note"
out=$("$IMGBUILD" --root "$ST" --no-push --context "$CTX" --snapshot-mode redo -q 2>&1 >/dev/null)
is "$out" "" "-q: no note"
"$IMGBUILD" --root "$ST" --no-push --context "$CTX" --snapshot-mode=weird >/dev/null 2>&1
is "$?" 2 "a bad --snapshot-mode value is a usage error"
"$IMGBUILD" --root "$ST" --no-push --context "$CTX" --cache-run-layers=maybe >/dev/null 2>&1
is "$?" 2 "a bad boolean is a usage error"

# --context-sub-path and the environment aliases.
mkdir -p "$CTX/sub" && cp "$CTX/Dockerfile" "$CTX/a" "$CTX/sub/" && echo sub >"$CTX/sub/a"
"$IMGBUILD" --root "$ST" --no-push --context "dir://$CTX" --context-sub-path sub --oci-layout-path "$TMP/sub:x" -q >/dev/null 2>&1
is "$?" 0 "--context-sub-path builds the subdirectory"
# Options in any order: --kaniko-dir before --context-sub-path keeps both.
mkdir -p "$TMP/kdir/.docker" && echo '{"auths":{}}' >"$TMP/kdir/.docker/config.json"
"$IMGBUILD" --root "$ST" --no-push --kaniko-dir "$TMP/kdir" --context "dir://$CTX" --context-sub-path sub -q >/dev/null 2>&1
is "$?" 0 "--kaniko-dir then --context-sub-path: both kept, no crash"
if command -v umoci >/dev/null && is_root; then
        umoci unpack --image "$TMP/sub:x" "$TMP/sub-unpacked" >/dev/null 2>&1
        is "$(cat "$TMP/sub-unpacked/rootfs/a" 2>/dev/null)" "sub" "the file came from the sub path"
fi
out=$(KANIKO_NO_PUSH=true "$IMGBUILD" --root "$ST" --context "$CTX" -d "$REG/x:1" 2>&1)
is "$?" 0 "KANIKO_NO_PUSH=true: no push to a destination that does not answer"
KANIKO_NO_PUSH=maybe "$IMGBUILD" --root "$ST" --context "$CTX" >/dev/null 2>&1
is "$?" 2 "KANIKO_NO_PUSH=maybe is a usage error"
# Kaniko's --registry-map form (pairs separated by ';') and
# --skip-default-registry-fallback: with the map applying, the image's own
# registry is never asked.
out=$("$IMGBUILD" pull --root "$ST" --image-download-retry 0 --skip-default-registry-fallback \
        --registry-map "quay.invalid=127.0.0.1:8;example.invalid=$REG" example.invalid/x:1 2>&1)
like "$out" "$REG/v2/" "the second pair of a Kaniko --registry-map applies"
[[ $out != *"example.invalid/v2/"* ]]; _tap_point $? "--skip-default-registry-fallback: the original registry is not tried"
out=$("$IMGBUILD" pull --root "$ST" --image-download-retry 0 --registry-map "example.invalid=$REG" example.invalid/x:1 2>&1)
like "$out" "example.invalid/v2/" "without it, the original registry is tried last"
"$IMGBUILD" pull --root "$ST" --registry-map "=x" example.invalid/x:1 >/dev/null 2>&1
is "$?" 2 "a malformed --registry-map is a usage error"
# KANIKO_REGISTRY_MIRROR and KANIKO_REGISTRY_MAP add to the flags: with no
# fallback the base is asked of them only (and they do not answer)
mkdir -p "$IB_TMP/ctx2"
echo 'FROM busybox:1.36' >"$IB_TMP/ctx2/hub.Dockerfile"
echo 'FROM example.invalid/x:1' >"$IB_TMP/ctx2/other.Dockerfile"
out=$(KANIKO_REGISTRY_MIRROR=$REG "$IMGBUILD" --root "$ST" --no-push --context "$IB_TMP/ctx2" -f hub.Dockerfile \
        --skip-default-registry-fallback --image-download-retry 0 2>&1)
like "$out" "FROM busybox:1.36.*$REG/v2/" "KANIKO_REGISTRY_MIRROR is a mirror for docker.io"
out=$(KANIKO_REGISTRY_MAP="example.invalid=$REG" "$IMGBUILD" --root "$ST" --no-push --context "$IB_TMP/ctx2" \
        -f other.Dockerfile --skip-default-registry-fallback --image-download-retry 0 2>&1)
like "$out" "FROM example.invalid/x:1.*$REG/v2/" "KANIKO_REGISTRY_MAP maps a registry"
done_testing
