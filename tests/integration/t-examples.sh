#!/bin/bash
# examples/: the YAML files parse and say what they promise (a pod with
# hostUsers: false and no privileges; a GitLab job with --cache
# --cache-repo), the GitLab job's script runs as written against a registry
# that wants a password, and the rootless session's commands run as an
# unprivileged user with subordinate ids.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
E=$IB_SRCDIR/examples
command -v python3 >/dev/null || skip_all "python3 not installed"
python3 -c 'import yaml' 2>/dev/null || skip_all "python3-yaml not installed"

# One python run (its start is slow on a busy machine): checks, then the
# GitLab job's variables and script as a shell script.
python3 - "$E/kubernetes/pod.yaml" "$E/gitlab-ci/.gitlab-ci.yml" >"$IB_TMP/yaml.out" 2>&1 <<'PY'
import sys, yaml
def check(cond, name):
    print(("ok " if cond else "not ok ") + name)
pod = yaml.safe_load(open(sys.argv[1]))
spec = pod["spec"]
c = spec["containers"][0]
sc = c.get("securityContext", {})
check(pod["kind"] == "Pod", "pod.yaml is a Pod")
check(spec.get("hostUsers") is False, "pod.yaml: hostUsers: false")
check(sc.get("privileged") is False and sc.get("allowPrivilegeEscalation") is False, "pod.yaml: not privileged, no escalation")
check(spec.get("securityContext", {}).get("runAsNonRoot") is True, "pod.yaml: runAsNonRoot")
check(sc.get("capabilities", {}).get("drop") == ["ALL"], "pod.yaml: every capability dropped")
args = " ".join(c["args"])
check("--context=" in args and "--destination=" in args and "--cache=true" in args, "pod.yaml: Kaniko's arguments")
mounts = [m["mountPath"] for m in c["volumeMounts"]]
check("/kaniko/.docker" in mounts, "pod.yaml: credentials at /kaniko/.docker")
ci = yaml.safe_load(open(sys.argv[2]))
job = ci["build-image"]
script = job["script"]
check(any("/kaniko/.docker/config.json" in s for s in script), "gitlab-ci: config.json from CI variables")
check(any(s.startswith("imgbuild") and "--cache=true" in s and "--cache-repo" in s for s in script),
      "gitlab-ci: imgbuild with --cache --cache-repo")
print("#script")
for k, v in job.get("variables", {}).items():
    print("export %s=\"%s\"" % (k, v))
for s in script:
    print(s)
PY
while IFS= read -r l; do
        case $l in "ok "*) _tap_point 0 "${l#ok }" ;; "not ok "*) _tap_point 1 "${l#not ok }" ;; "#script") break ;;
        *) _tap_point 1 "YAML: $l" ;; esac
done <"$IB_TMP/yaml.out"
sed -n '/^#script$/,$p' "$IB_TMP/yaml.out" | tail -n +2 >"$IB_TMP/job.sh"

# ------------------------------------------------ the GitLab job's script
if is_root && unshare -m true 2>/dev/null && have_userns && command -v docker-registry >/dev/null &&
        command -v htpasswd >/dev/null && command -v skopeo >/dev/null; then
        U=gitlab-ci-token P='job-t0ken'
        start_registry_htpasswd "$U" "$P" || skip_all "cannot start docker-registry with htpasswd"
        R=$REGISTRY
        make_busybox_layout "$IB_TMP/bb" >/dev/null 2>&1
        skopeo copy -q --dest-tls-verify=false --dest-creds "$U:$P" "oci:$IB_TMP/bb:latest" "docker://$R/base/busybox:1"
        W=$IB_TMP/project
        mkdir -p "$W" "$IB_TMP/cibin" "$IB_TMP/home"
        ln -sf "$IMGBUILD" "$IB_TMP/cibin/imgbuild"
        printf 'FROM %s/base/busybox:1\nRUN echo built > /built\nCMD ["cat", "/built"]\n' "$R" >"$W/Dockerfile"
        made=""
        [ -d /kaniko ] || { mkdir /kaniko && made=1 && on_exit "rmdir /kaniko"; }
        job() {
                env -u DOCKER_CONFIG -u REGISTRY_AUTH_FILE HOME="$IB_TMP/home" PATH="$IB_TMP/cibin:$PATH" \
                        CI_REGISTRY="$R" CI_REGISTRY_USER="$U" CI_REGISTRY_PASSWORD="$P" \
                        CI_REGISTRY_IMAGE="$R/group/project" CI_COMMIT_SHORT_SHA="$1" CI_PROJECT_DIR="$W" \
                        unshare -m --propagation private sh -ec 'mount -t tmpfs -o mode=0755 tmpfs /kaniko; . "$0"' \
                        "$IB_TMP/job.sh"
        }
        job abc1234 >"$IB_TMP/job.log" 2>&1
        is "$?" 0 "the GitLab job's script runs as written" || diag "$(tail -5 "$IB_TMP/job.log")"
        d=$(skopeo inspect --tls-verify=false --creds "$U:$P" "docker://$R/group/project:abc1234" 2>/dev/null | jq -r .Digest)
        like "$d" "^sha256:" "it pushed \$CI_REGISTRY_IMAGE:\$CI_COMMIT_SHORT_SHA"
        is "$(cat "$W/image-digest" 2>/dev/null)" "$d" "its --digest-file artifact holds that digest"
        tags=$(skopeo list-tags --tls-verify=false --creds "$U:$P" "docker://$R/group/project/cache" 2>/dev/null |
                jq -r '.Tags | length')
        [ "${tags:-0}" -ge 1 ]; _tap_point $? "the --cache-repo holds the RUN step (${tags:-0} tags)"
        rm -rf "$W/.imgbuild-store"
        job def5678 >"$IB_TMP/job.log" 2>&1
        is "$?" 0 "a second job on a runner with an empty store"
        like "$(cat "$IB_TMP/job.log")" "CACHED.*RUN" "takes the RUN from the registry cache"
        [ -n "$made" ] && is "$(ls -A /kaniko)" "" "the host's /kaniko was never written"
else
        skip "the GitLab job needs root (a private /kaniko), docker-registry, htpasswd and skopeo"
fi

# ------------------------------------------------ the rootless session
if is_root && have_userns && setup_test_user; then
        awk '/<!-- begin session -->/ { on = 1; next } /<!-- end session -->/ { on = 0 }
             on && !/^```/' "$E/rootless/README.md" >"$IB_TMP/session.sh"
        chmod 644 "$IB_TMP/session.sh"
        grep -q "imgbuild build" "$IB_TMP/session.sh"; _tap_point $? "the session has a build"
        H=$(user_dir)
        as_user "$IB_TEST_USER" env HOME="$H" PATH="$IB_TMP/bin:/usr/bin:/bin" sh -ex "$IB_TMP/session.sh" \
                >"$IB_TMP/session.log" 2>&1
        is "$?" 0 "the session's commands run as $IB_TEST_USER" || diag "$(tail -8 "$IB_TMP/session.log")"
        like "$(cat "$IB_TMP/session.log")" "privilege mode rootless" "in the rootless mode with subordinate ids"
        like "$(cat "$IB_TMP/session.log")" "CACHED.*RUN" "the second build is cached"
        ok "the store is where the README says" test -d "$H/.local/share/imgbuild/blobs"
        if command -v umoci >/dev/null; then
                umoci unpack --image "$H/hello/out:hello" "$IB_TMP/hello" >/dev/null 2>&1
                is "$(stat -c %u "$IB_TMP/hello/rootfs/data" 2>/dev/null)" 1000 "/data is owned by 1000 in the image"
        fi
else
        skip "the rootless session needs root to make the test user, and user namespaces"
fi
done_testing
