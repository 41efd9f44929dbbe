#!/bin/bash
# snapshot, rootless: an unprivileged user with a subordinate range exports a real
# overlay upper dir, round-trips it, and is protected from hostile layers; owners
# the namespace cannot map and device nodes are reported (range and single-id mode).
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
. "$IB_SRCDIR/tests/lib/snapshot.sh"
have_userns || skip_all "no user namespaces"
setup_test_user || skip_all "cannot create the test user (needs root)"
setup_test_user_nosub || skip_all "cannot create the single-id test user"
IMGBUILD_RUN=$IMGBUILD_USER_BIN
# the helpers, where the test users can read them whatever the checkout's permissions
cp -r "$IB_SRCDIR/tests/lib" "$IB_TMP/lib" && chmod -R a+rX "$IB_TMP/lib"
TL=$IB_TMP/lib

U=$(user_dir)
S=$U/store
ok "overlay scenario as $IB_TEST_USER (rootless overlay, userxattr)" ns_user sh "$TL/ovl-scenario.sh" "$U/a"
out=$(ns_user "$IMGBUILD_RUN" debug-layer export --root "$S" "$U/a/upper")
read -r DIFF DIGEST _ <<<"$out"
like "$DIFF" '^sha256:' "export as $IB_TEST_USER"
is "$(python3 "$TL/tarlist.py" "$(blob_path "$S" "$DIGEST")" | grep -E '^. (own.txt|perm.txt|suid|new-link) ')" \
"f new-link 0644 0 0 4 - user.foo=626172
f own.txt 0644 1000 1000 4 - -
f perm.txt 0600 0 0 5 - -
f suid 4755 0 0 10 - -" "owners are the namespace's (0 and 1000), not the host's"
out=$(ns_user "$IMGBUILD_RUN" debug-layer import --root "$S" --diff-id "$DIFF" "$DIGEST" 2>"$IB_TMP/err")
ok "rootless round trip: the imported layer equals the upper dir" ns_user python3 "$TL/treecmp.py" "$U/a/upper" "$out"
is "$(grep -c warning "$IB_TMP/err")" 0 "no warnings when every owner is mapped"

hostile_suite ns_user "$S"

# Owners outside the range: 70000 is not mapped with 65,536 subordinate ids.
ids=$(ns_user python3 "$TL/mklayer.py" "$S" o:ok:1000:1000 o:big:70000:70001 o:big2:0:80000 c:null:1:3 f:plain)
read -r dg di <<<"$ids"
out=$(ns_user "$IMGBUILD_RUN" debug-layer import --root "$S" --diff-id "$di" "$dg" 2>"$IB_TMP/err")
ok "a layer with unmappable owners and a device imports" test -d "$out"
is "$(ns_user stat -c '%n %u:%g' "$out/ok" "$out/big" "$out/big2" | sed "s|$out/||" | tr '\n' ' ')" \
   "ok 1000:1000 big 65534:65534 big2 0:65534 " "unmapped ids become 65534 (inside the namespace)"
is "$(grep -c 'warning' "$IB_TMP/err")" 2 "two warnings: owners and devices"
like "$(cat "$IB_TMP/err")" "2 entries are owned by ids this user namespace does not map \(e.g. \`big\`, 70000:70001\).*/etc/subuid" "the owner warning names the count, an example and the fix"
like "$(cat "$IB_TMP/err")" "1 device nodes cannot be created without privilege and were skipped \(\`null\`\)" "the device warning lists them"
[ ! -e "$out/null" ]; is $? 0 "the device node was skipped"

# Single-id mode: only 0 is mapped; 65534 is not either, so everything stays ours.
U1=$(mktemp -d "$IB_TMP/u1.XXXXXX"); chown "$IB_TEST_USER_NOSUB" "$U1"
ids=$(ns_user1 python3 "$TL/mklayer.py" "$U1/store" o:root:0:0 o:user:1000:1000 o:other:4242:4343)
read -r dg di <<<"$ids"
out=$(ns_user1 "$IMGBUILD_RUN" debug-layer import --root "$U1/store" --diff-id "$di" "$dg" 2>"$IB_TMP/err1")
ok "single-id mode imports a layer with non-0 owners" test -f "$out/user"
is "$(stat -c '%U' "$out/root" "$out/user" "$out/other" | sort -u)" "$IB_TEST_USER_NOSUB" "every entry is owned by the user (0 inside)"
like "$(cat "$IB_TMP/err1")" "warning: 2 entries are owned by ids this user namespace does not map" "single-id mode: the squash is reported once"
cat >"$IB_TMP/rt1.sh" <<EOS
set -e
t=\$(mktemp -d "$U1/t.XXXXXX")
mkdir -p "\$t/d" && echo hi >"\$t/d/f" && ln -s f "\$t/d/l" && ln "\$t/d/f" "\$t/d/h" && chmod 4755 "\$t/d/f" && mkfifo "\$t/p"
set -- \$("$IMGBUILD_RUN" debug-layer export --root "$U1/store" "\$t")
o=\$("$IMGBUILD_RUN" debug-layer import --root "$U1/store" --diff-id "\$1" "\$2" 2>/dev/null)
python3 "$TL/treecmp.py" "\$t" "\$o"
EOS
ok "single-id mode: round trip of a tree made by the user" ns_user1 sh "$IB_TMP/rt1.sh"
done_testing
