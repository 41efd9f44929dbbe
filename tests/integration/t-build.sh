#!/bin/bash
# imgbuild build end to end, as root and as an unprivileged user with
# subordinate ids.  Results are judged by independent tools: skopeo (config,
# copies), umoci (file trees) and podman (load, run) where it runs.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

have_userns || skip_all "user namespaces unavailable"
command -v skopeo >/dev/null && command -v umoci >/dev/null || skip_all "skopeo and umoci are needed as judges"
is_root || skip_all "needs root to create the unprivileged test user"
setup_test_user || skip_all "cannot create the test user"

BB=$IB_TMP/busybox-layout
make_busybox_layout "$BB" latest >/dev/null 2>&1 || skip_all "cannot make the busybox base with umoci"
chmod -R a+rX "$BB"

# bld MODE DIR ARGS...: imgbuild build as root or as the test user, with the
# store in DIR/store; output in DIR/log.
bld() {
        local mode=$1 dir=$2; shift 2
        if [ "$mode" = root ]; then
                ( cd "$dir" && "$IMGBUILD" build --root "$dir/store" "$@" ) >"$dir/log" 2>&1
        else
                as_user "$IB_TEST_USER" sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" \
                        env ${SOURCE_DATE_EPOCH:+SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH} \
                        "$IMGBUILD_USER_BIN" build --root "$dir/store" "$@" >"$dir/log" 2>&1
        fi
}
newdir() { local d; d=$(user_dir); mkdir -p "$d/ctx"; chown "$IB_TEST_USER" "$d/ctx"; echo "$d"; }
unpack() { # layout:tag dest
        rm -rf "$2"; umoci unpack --image "$1" "$2" >/dev/null 2>&1
}
# --raw: skopeo's parsed view drops Docker's Healthcheck, OnBuild and Shell.
cfg() { skopeo inspect --raw --config "oci:$1" 2>/dev/null | jq -c "$2"; }
podman_ok() {
        command -v podman >/dev/null || return 1
        P=(podman --root "$IB_TMP/podman" --runroot "$IB_TMP/podman-run" --storage-driver vfs)
        "${P[@]}" info >/dev/null 2>&1
}

for mode in root user; do
        # ------------------------------------------------------------------ the article
        d=$(newdir)
        cat >"$d/ctx/Dockerfile" <<'EOF'
FROM node:12 AS build
RUN echo "hello" > /result.txt
RUN cat /result.txt

FROM node:12
COPY --from=build /result.txt /
EOF
        ok "$mode: the article's multi-stage Dockerfile builds" \
                bld $mode "$d" --build-context node:12=oci-layout://"$BB":latest --oci-layout-path "$d/out:a" ctx
        unpack "$d/out:a" "$d/b"
        is "$(cat "$d/b/rootfs/result.txt" 2>/dev/null)" hello "$mode: umoci sees /result.txt = hello"
        is "$(grep -c 'extracted layer' "$d/log")" 1 "$mode: the base is extracted once for both stages"
        is "$(cfg "$d/out:a" '.rootfs.diff_ids|length')" 2 "$mode: final image = base layer + the COPY layer"
        like "$(cat "$d/log")" '\[build 3/3\] RUN cat /result.txt' "$mode: one line per step"

        # -------------------------------------------------------- three RUNs vs one
        d=$(newdir)
        printf 'FROM base\nRUN echo a > /a\nRUN echo b > /b\nRUN echo c > /c\n' >"$d/ctx/Dockerfile"
        ok "$mode: three RUNs build" bld $mode "$d" --build-context base=oci-layout://"$BB" --oci-layout-path "$d/out:3" ctx
        is "$(cfg "$d/out:3" '.rootfs.diff_ids|length')" 4 "$mode: three RUNs add three layers"
        printf 'FROM base\nRUN echo a > /a && echo b > /b && echo c > /c\nRUN true\n' >"$d/ctx/Dockerfile"
        ok "$mode: one RUN builds" bld $mode "$d" --build-context base=oci-layout://"$BB" --oci-layout-path "$d/out:1" ctx
        is "$(cfg "$d/out:1" '.rootfs.diff_ids|length')" 2 "$mode: one RUN adds one layer; a RUN changing nothing adds none"
        is "$(cfg "$d/out:1" '[.history[]|select(.empty_layer==true and (.created_by|endswith("-c true # imgbuild")))]|length')" 1 \
                "$mode: the empty RUN is an empty_layer history entry"
        unpack "$d/out:3" "$d/b3"
        is "$(cat "$d/b3/rootfs/a" "$d/b3/rootfs/b" "$d/b3/rootfs/c" | tr -d '\n')" abc "$mode: files of all three RUNs"

        # ------------------------------------------------------ every metadata instruction
        d=$(newdir)
        cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base
MAINTAINER someone@example.invalid
ENV A=1 B="two words"
ENV C $A-x
LABEL org.test.a=1 "org.test.b"="b c"
EXPOSE 80 443/udp 8000-8001
VOLUME ["/data", "/cache"]
WORKDIR /app
WORKDIR sub
USER user:user
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD wget -q -O- localhost || exit 1
ONBUILD RUN echo triggered
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/echo"]
CMD ["hi"]
EOF
        ok "$mode: metadata instructions build" \
                bld $mode "$d" --build-context base=oci-layout://"$BB" --label org.cli=yes --oci-layout-path "$d/out:m" ctx
        c=$(cfg "$d/out:m" '.config')
        is "$(echo "$c" | jq -c '[.Env[]|select(startswith("A=") or startswith("B=") or startswith("C="))]')" \
                '["A=1","B=two words","C=1-x"]' "$mode: Env (both ENV forms, expansion)"
        is "$(echo "$c" | jq -c .Entrypoint)" '["/bin/echo"]' "$mode: Entrypoint"
        is "$(echo "$c" | jq -c .Cmd)" '["hi"]' "$mode: Cmd"
        is "$(echo "$c" | jq -r .WorkingDir)" /app/sub "$mode: WorkingDir (relative WORKDIR)"
        is "$(echo "$c" | jq -r .User)" user:user "$mode: User"
        is "$(echo "$c" | jq -c .Labels)" '{"org.cli":"yes","org.test.a":"1","org.test.b":"b c"}' "$mode: Labels (+ --label)"
        is "$(echo "$c" | jq -c '.ExposedPorts|keys')" '["443/udp","80/tcp","8000/tcp","8001/tcp"]' "$mode: ExposedPorts"
        is "$(echo "$c" | jq -c '.Volumes|keys')" '["/cache","/data"]' "$mode: Volumes"
        is "$(echo "$c" | jq -c .Healthcheck)" \
                '{"Test":["CMD-SHELL","wget -q -O- localhost || exit 1"],"Interval":5000000000,"Timeout":2000000000,"Retries":4}' \
                "$mode: Healthcheck"
        is "$(echo "$c" | jq -r .StopSignal)" SIGQUIT "$mode: StopSignal"
        is "$(echo "$c" | jq -c .OnBuild)" '["RUN echo triggered"]' "$mode: OnBuild"
        is "$(echo "$c" | jq -c .Shell)" '["/bin/sh","-ec"]' "$mode: Shell (kept in the OCI config, as BuildKit)"
        is "$(cfg "$d/out:m" .author)" '"someone@example.invalid"' "$mode: MAINTAINER -> author"
        is "$(cfg "$d/out:m" '.history|length')" 17 "$mode: history: base + one entry per instruction but ARG"
        unpack "$d/out:m" "$d/bm"
        ok "$mode: WORKDIR created the directory" test -d "$d/bm/rootfs/app/sub"

        # ---------------------------------------------- ENTRYPOINT resets an inherited CMD
        d2=$(newdir)
        printf 'FROM base\nENTRYPOINT ["/bin/ls"]\n' >"$d2/ctx/Dockerfile"
        ok "$mode: ENTRYPOINT over a base with CMD builds" \
                bld $mode "$d2" --build-context base=oci-layout://"$BB" --oci-layout-path "$d2/out:e" ctx
        is "$(cfg "$d2/out:e" .config.Cmd)" null "$mode: ENTRYPOINT resets the base image's CMD (as Docker)"

        # -------------------------------------------------------------- files and owners
        d=$(newdir)
        mkdir -p "$d/ctx/dir/sub"
        echo one >"$d/ctx/dir/one"; echo two >"$d/ctx/dir/sub/two"; ln -s one "$d/ctx/dir/link"
        ln "$d/ctx/dir/one" "$d/ctx/dir/hard"; echo x >"$d/ctx/exec.sh"; chmod 755 "$d/ctx/exec.sh"
        touch -d @1600000000 "$d/ctx/dir/one"
        printf 'ignored\n' >"$d/ctx/secret.txt"; printf 'secret.txt\n' >"$d/ctx/.dockerignore"
        chown -R "$IB_TEST_USER" "$d/ctx"
        cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base
COPY dir /copied/
COPY --chown=imguser:imggroup --chmod=0640 exec.sh /owned
COPY --chown=1234:5678 dir/sub /numeric/
RUN rm /bin/wget && mkdir -p /made && chown 4242:4343 /made && chmod 4755 /made && touch /made/f
COPY * /all/
EOF
        ok "$mode: COPY/RUN file tree builds" bld $mode "$d" --build-context base=oci-layout://"$BB" --oci-layout-path "$d/out:f" ctx
        unpack "$d/out:f" "$d/bf"
        r=$d/bf/rootfs
        is "$(cat "$r/copied/one" "$r/copied/sub/two" 2>/dev/null | tr -d '\n')" onetwo "$mode: a dir copies its contents"
        is "$(readlink "$r/copied/link")" one "$mode: a symlink is copied as a link"
        is "$(stat -c %i "$r/copied/one")" "$(stat -c %i "$r/copied/hard")" "$mode: a hardlink stays a hardlink"
        is "$(stat -c %Y "$r/copied/one")" 1600000000 "$mode: COPY keeps mtimes"
        is "$(stat -c '%u:%g %a' "$r/copied/one")" "0:0 644" "$mode: COPY owner is root:root by default"
        is "$(stat -c '%u:%g %a' "$r/owned")" "4242:4343 640" "$mode: --chown by name from the image's passwd/group, --chmod"
        is "$(stat -c '%u:%g' "$r/numeric/two")" "1234:5678" "$mode: --chown numeric"
        is "$(stat -c '%u:%g %a' "$r/made")" "4242:4343 4755" "$mode: chown/chmod 4755 in a RUN keep owners and setuid"
        ok "$mode: a deleted base file is gone (whiteout)" test ! -e "$r/bin/wget"
        ok "$mode: .dockerignore keeps secret.txt out" test ! -e "$r/all/secret.txt"
        ok "$mode: COPY * copied the rest" test -f "$r/all/exec.sh"
        tl=$(for b in $(skopeo inspect "oci:$d/out:f" | jq -r '.Layers[]'); do tar -tzf "$d/out/blobs/sha256/${b#sha256:}"; done)
        like "$tl" 'bin/\.wh\.wget' "$mode: the RUN layer holds the whiteout .wh.wget"

        # ---------------------------------------------------- USER by name in a RUN
        d=$(newdir)
        printf 'FROM base\nUSER imguser\nRUN id -u > /tmp/uid; id -g >> /tmp/uid; id -G >> /tmp/uid\n' >"$d/ctx/Dockerfile"
        ok "$mode: RUN as USER builds" bld $mode "$d" --build-context base=oci-layout://"$BB" --oci-layout-path "$d/out:u" ctx
        unpack "$d/out:u" "$d/bu"
        is "$(tr '\n' ' ' <"$d/bu/rootfs/tmp/uid")" "4242 4343 4343 5555 " "$mode: USER resolved from the image's /etc/passwd and /etc/group"

        # ------------------------------------------------------ outputs judged by tools
        d=$(newdir)
        printf 'FROM base\nRUN echo out > /out.txt\nCMD ["cat", "/out.txt"]\n' >"$d/ctx/Dockerfile"
        ok "$mode: build with every local output" bld $mode "$d" --build-context base=oci-layout://"$BB" \
                --oci-layout-path "$d/out:o" --tar-path "$d/img.tar" -t example.invalid/out:1 --no-push \
                --digest-file "$d/digest" --metadata-file "$d/meta.json" ctx
        dg=$(cat "$d/digest" 2>/dev/null)
        like "$dg" '^sha256:[0-9a-f]{64}$' "$mode: --digest-file holds the digest"
        is "$(jq -r '."containerimage.digest"' "$d/meta.json" 2>/dev/null)" "$dg" "$mode: --metadata-file names the same digest"
        is "$(skopeo inspect "oci:$d/out:o" | jq -r .Digest)" "$dg" "$mode: skopeo agrees on the digest of the OCI layout"
        ok "$mode: skopeo copy oci: works" skopeo copy "oci:$d/out:o" "oci:$d/copy:o"
        ok "$mode: skopeo copy docker-archive: (--tar-path) works" skopeo copy "docker-archive:$d/img.tar" "oci:$d/fromtar:t"
        if podman_ok; then
                ok "$mode: podman load reads --tar-path" "${P[@]}" load -i "$d/img.tar"
                is "$("${P[@]}" run --rm --runtime runc --network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
                        example.invalid/out:1 2>"$d/podman.err")" out "$mode: podman run of the loaded image prints its output" ||
                        diag "$(tail -n 5 "$d/podman.err")"
                "${P[@]}" rmi -a -f >/dev/null 2>&1
        else
                skip "podman does not run here"
                skip "podman does not run here"
        fi

        # ------------------------------------------------------- contexts: tar:// and -
        d=$(newdir)
        printf 'FROM base\nCOPY f /f\n' >"$d/Dockerfile"; echo tarred >"$d/f"
        tar -C "$d" -czf "$d/ctx.tar.gz" f Dockerfile; chmod 644 "$d/ctx.tar.gz"
        ok "$mode: tar:// context" bld $mode "$d" --build-context base=oci-layout://"$BB" -f "$d/Dockerfile" \
                --oci-layout-path "$d/out:t" "tar://$d/ctx.tar.gz"
        unpack "$d/out:t" "$d/bt"
        is "$(cat "$d/bt/rootfs/f" 2>/dev/null)" tarred "$mode: file from a tar context"
done

# ------------------------------------------------- ONBUILD, ADD, heredocs, contexts
d=$(newdir)
printf 'FROM base\nONBUILD RUN echo fired > /onbuild.txt\nONBUILD ENV FIRED=yes\n' >"$d/ctx/Dockerfile"
ok "an image with ONBUILD triggers builds" bld root "$d" --build-context base=oci-layout://"$BB" --oci-layout-path "$d/ob:1" ctx
printf 'FROM parent\nRUN test "$FIRED" = yes\n' >"$d/ctx/Dockerfile"
ok "FROM it runs its triggers first" bld root "$d" --build-context parent=oci-layout://"$d/ob:1" --oci-layout-path "$d/child:1" ctx
unpack "$d/child:1" "$d/bc"
is "$(cat "$d/bc/rootfs/onbuild.txt" 2>/dev/null)" fired "the trigger's RUN wrote its file"
is "$(cfg "$d/child:1" .config.OnBuild)" null "triggers do not carry over to the child image"

d=$(newdir)
mkdir -p "$d/ctx/www" "$d/t/pkg"; echo packed >"$d/t/pkg/inside"
tar -C "$d/t" -czf "$d/ctx/pkg.tar.gz" pkg
echo served >"$d/ctx/www/file.txt"
sum=$(sha256sum "$d/ctx/www/file.txt" | cut -d' ' -f1)
port=$(free_port)
spawn python3 -m http.server --bind 127.0.0.1 --directory "$d/ctx/www" "$port" >/dev/null 2>&1
wait_http "http://127.0.0.1:$port/file.txt" 20
mkdir -p "$d/named"; printf 'stage file\n' >"$d/named/named.txt"
cat >"$d/ctx/Dockerfile" <<DOCKERFILE
FROM base
ENV WHO=world
ADD pkg.tar.gz /opt/
ADD --checksum=sha256:$sum http://127.0.0.1:$port/file.txt /dl/
COPY --from=extra named.txt /named.txt
COPY <<EOT /heredoc.txt
from a heredoc \$WHO
EOT
RUN <<EOT
echo "run heredoc" > /run-heredoc.txt
EOT
DOCKERFILE
ok "ADD (archive, URL with checksum), heredocs and a named dir context build" \
        bld root "$d" --build-context base=oci-layout://"$BB" --build-context extra="$d/named" --oci-layout-path "$d/o:1" ctx
unpack "$d/o:1" "$d/bo"
is "$(cat "$d/bo/rootfs/opt/pkg/inside" 2>/dev/null)" packed "ADD unpacks a local .tar.gz"
is "$(cat "$d/bo/rootfs/dl/file.txt" 2>/dev/null)" served "ADD fetches a URL"
is "$(cat "$d/bo/rootfs/named.txt" 2>/dev/null)" "stage file" "COPY --from a named directory context"
is "$(cat "$d/bo/rootfs/heredoc.txt" 2>/dev/null)" "from a heredoc world" "COPY <<EOT expands the stage's variables"
is "$(cat "$d/bo/rootfs/run-heredoc.txt" 2>/dev/null)" "run heredoc" "RUN <<EOT runs the body"
sed -i "s/sha256:$sum/sha256:$(printf '0%.0s' $(seq 64))/" "$d/ctx/Dockerfile"
bld root "$d" --build-context base=oci-layout://"$BB" --build-context extra="$d/named" ctx; rc=$?
is "$rc" 1 "ADD with a wrong --checksum fails"
like "$(cat "$d/log")" 'checksum|sha256' "the error says the checksum does not match"

d=$(newdir)
printf 'FROM base\nCOPY f /from-stdin\n' >"$d/Dockerfile"; echo piped >"$d/f"
( cd "$d" && tar -cf - f | "$IMGBUILD" build --root "$d/store" --build-context base=oci-layout://"$BB" \
        -f "$d/Dockerfile" --oci-layout-path "$d/o:1" - ) >"$d/log" 2>&1
ok "a tar on stdin is a context (-)" test $? = 0
unpack "$d/o:1" "$d/bs"
is "$(cat "$d/bs/rootfs/from-stdin" 2>/dev/null)" piped "file from the stdin context"

# ------------------------------------------------ --single-snapshot, --image-format
d=$(newdir)
printf 'FROM base\nRUN echo 1 > /one\nCOPY Dockerfile /df\nRUN rm /bin/wget && echo 2 > /two\nWORKDIR /wd\n' >"$d/ctx/Dockerfile"
ok "--single-snapshot builds" bld root "$d" --build-context base=oci-layout://"$BB" --single-snapshot --oci-layout-path "$d/o:s" ctx
is "$(cfg "$d/o:s" '.rootfs.diff_ids|length')" 2 "--single-snapshot: the base layer plus one layer for the stage"
unpack "$d/o:s" "$d/bss"
ok "--single-snapshot: every step's files are in it" test -f "$d/bss/rootfs/one" -a -f "$d/bss/rootfs/two" -a -f "$d/bss/rootfs/df" -a -d "$d/bss/rootfs/wd"
ok "--single-snapshot: the deletion is in it" test ! -e "$d/bss/rootfs/bin/wget"
ok "--image-format docker builds" bld root "$d" --build-context base=oci-layout://"$BB" --image-format docker --oci-layout-path "$d/o:d" ctx
# skopeo's oci: transport lists only OCI manifests, so read the blobs directly.
mdg=$(jq -r '.manifests[]|select(.annotations."org.opencontainers.image.ref.name"=="d")|.digest' "$d/o/index.json")
raw=$(cat "$d/o/blobs/sha256/${mdg#sha256:}" 2>/dev/null)
is "$(echo "$raw" | jq -r .mediaType)" application/vnd.docker.distribution.manifest.v2+json "--image-format docker: docker manifest"
is "$(echo "$raw" | jq -r .config.mediaType)" application/vnd.docker.container.image.v1+json "--image-format docker: docker config"
is "$(echo "$raw" | jq -r '.layers[-1].mediaType')" application/vnd.docker.image.rootfs.diff.tar.gzip "--image-format docker: docker layers"
ok "--compression zstd builds" bld root "$d" --build-context base=oci-layout://"$BB" --compression zstd --oci-layout-path "$d/o:z" ctx
is "$(skopeo inspect --raw "oci:$d/o:z" | jq -r '.layers[-1].mediaType')" application/vnd.oci.image.layer.v1.tar+zstd "--compression zstd: zstd layers"
# umoci 0.4 cannot read zstd: skopeo (containers/image) decompresses it into gzip for umoci.
skopeo copy --dest-compress --dest-compress-format gzip "oci:$d/o:z" "oci:$d/conv:z" >/dev/null 2>&1
unpack "$d/conv:z" "$d/bz"
ok "--compression zstd: skopeo decompresses the layers to the right tree" test -f "$d/bz/rootfs/two"

# ----------------------------------------------------------------- reproducible
d=$(newdir)
printf 'FROM base\nRUN echo r > /r && mkdir /d\nCOPY Dockerfile /df\nWORKDIR /w\n' >"$d/ctx/Dockerfile"
SOURCE_DATE_EPOCH=1700000000 bld root "$d" --build-context base=oci-layout://"$BB" --digest-file "$d/d1" ctx
mv "$d/store" "$d/store-a"; sleep 1
SOURCE_DATE_EPOCH=1700000000 bld root "$d" --build-context base=oci-layout://"$BB" --digest-file "$d/d2" ctx
SOURCE_DATE_EPOCH=1700000000 bld user "$d" --build-context base=oci-layout://"$BB" --root "$d/store-u" --digest-file "$d/d3" ctx
like "$(cat "$d/d1")" '^sha256:' "SOURCE_DATE_EPOCH build gives a digest"
is "$(cat "$d/d2")" "$(cat "$d/d1")" "same digest from a second store, a second later"
is "$(cat "$d/d3")" "$(cat "$d/d1")" "same digest rootless as root"

# ----------------------------------------------------------------- bad input
d=$(newdir)
printf 'FROM base\nRUN echo before > /before\nRUN echo failing; exit 7\nRUN echo never\n' >"$d/ctx/Dockerfile"
bld root "$d" --build-context base=oci-layout://"$BB" ctx; rc=$?
is "$rc" 7 "a failing RUN's exit status is imgbuild's"
like "$(cat "$d/log")" 'Dockerfile:3: RUN echo failing; exit 7: exit status 7' "the error names file:line and the RUN"
ok "the failing step's output is shown" grep -q '^failing' "$d/log"
is "$(find "$d/store/tmp" -mindepth 1 | wc -l)" 0 "no temp dirs are left in the store"
nlayers=$(find "$d/store/layers" -mindepth 1 -maxdepth 1 -type d | wc -l)
is "$nlayers" 2 "only the base and the good RUN's layers are published"

printf 'FROM base\nCOPY ../outside /x\n' >"$d/ctx/Dockerfile"
bld root "$d" --build-context base=oci-layout://"$BB" ctx; rc=$?
is "$rc" 1 "COPY from outside the context fails with status 1"
like "$(cat "$d/log")" 'Dockerfile:2.*\.\./outside' "the error names the source and file:line"

printf 'FROM base\nCOPY nomatch*.txt /x/\n' >"$d/ctx/Dockerfile"
bld root "$d" --build-context base=oci-layout://"$BB" ctx; rc=$?
is "$rc" 1 "a pattern that matches nothing fails"
like "$(cat "$d/log")" 'nomatch\*\.txt' "the error names the pattern"

printf 'FROM base\nCOPY --from=nosuchstage /a /b\n' >"$d/ctx/Dockerfile"
bld root "$d" --build-context base=oci-layout://"$BB" ctx; rc=$?
is "$rc" 1 "an unknown --from fails"
like "$(cat "$d/log")" 'Dockerfile:2' "the error names file:line"

printf 'FROM base AS unused\nRUN exit 9\nFROM base AS wanted\nRUN echo ok > /ok\nFROM base\nRUN exit 3\n' >"$d/ctx/Dockerfile"
ok "--target builds only the stages it needs" bld root "$d" --build-context base=oci-layout://"$BB" --target wanted ctx
ok "no step of the unused stage ran" sh -c "! grep -q 'unused' '$d/log'"

done_testing
