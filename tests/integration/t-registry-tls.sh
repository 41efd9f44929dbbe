#!/bin/bash
# Registry TLS: a self-signed certificate is refused by default with a clear
# message, accepted with --registry-certificate or the skip-verify flags;
# client certificates; HTTP/2 where the registry offers it.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
for t in docker-registry skopeo umoci jq openssl; do
        command -v $t >/dev/null || skip_all "$t not installed"
done
L=$IB_TMP/bb
make_busybox_layout "$L" >/dev/null 2>&1 || skip_all "cannot make the busybox layout"
C=$IB_TMP/tls
make_cert "$C" || skip_all "openssl cannot make a certificate"
start_registry_tls "$C/cert.pem" "$C/key.pem" || skip_all "cannot start docker-registry with TLS"
R=$REGISTRY
ok "seed $R/x:1 with skopeo over TLS" skopeo copy -q --dest-tls-verify=false "oci:$L:latest" "docker://$R/x:1"
want=$(skopeo inspect --tls-verify=false "docker://$R/x:1" | jq -r .Digest)

"$IMGBUILD" pull --root "$IB_TMP/s0" "$R/x:1" >/dev/null 2>"$IB_TMP/err"; rc=$?
is "$rc" 1 "a self-signed registry certificate is refused (exit 1)"
like "$(cat "$IB_TMP/err")" "^imgbuild: pull $R/x:1: .*https://$R/v2/: .*certificate.*--registry-certificate $R=CA.pem" \
        "the message names the registry, the certificate problem and the way out"
out=$("$IMGBUILD" pull --root "$IB_TMP/s1" --registry-certificate "$R=$C/cert.pem" "$R/x:1" 2>&1)
is "$out" "$R/x:1@$want" "--registry-certificate R=CA.pem trusts it"
like "$(grep 'imgbuild/' "$REGISTRY_LOG" | tail -n1)" "HTTP/2.0" "HTTP/2 is used where the registry offers it"
out=$("$IMGBUILD" pull --root "$IB_TMP/s2" --skip-tls-verify "$R/x:1" 2>&1)
is "$out" "$R/x:1@$want" "--skip-tls-verify"
out=$("$IMGBUILD" pull --root "$IB_TMP/s3" --skip-tls-verify-pull "$R/x:1" 2>&1)
is "$out" "$R/x:1@$want" "--skip-tls-verify-pull"
out=$("$IMGBUILD" pull --root "$IB_TMP/s4" --skip-tls-verify-registry "$R" "$R/x:1" 2>&1)
is "$out" "$R/x:1@$want" "--skip-tls-verify-registry R"
"$IMGBUILD" pull --root "$IB_TMP/s5" --skip-tls-verify-registry 127.0.0.1:1 "$R/x:1" >/dev/null 2>&1
is "$?" 1 "--skip-tls-verify-registry for another registry does not help"
"$IMGBUILD" pull --root "$IB_TMP/s5" --insecure-pull "$R/x:1" >/dev/null 2>&1
is "$?" 1 "--insecure-pull (plain HTTP allowed) does not accept a bad certificate"

out=$("$IMGBUILD" push --root "$IB_TMP/s1" --registry-certificate "$R=$C/cert.pem" "oci:$L" "$R/p:1" 2>&1)
like "$out" "^$R/p@sha256:" "push with --registry-certificate"
out=$("$IMGBUILD" push --root "$IB_TMP/s6" --skip-tls-verify "oci:$L" "$R/p:2" 2>&1)
like "$out" "^$R/p@sha256:" "push with --skip-tls-verify"
"$IMGBUILD" push --root "$IB_TMP/s7" --skip-tls-verify-pull "oci:$L" "$R/p:3" >/dev/null 2>"$IB_TMP/err"
is "$?" 1 "--skip-tls-verify-pull does not cover pushes"
like "$(cat "$IB_TMP/err")" "^imgbuild: push $R/p:3: .*certificate" "the push error names the reference"

# client certificates: a registry that requires one signed by our CA
CA=$IB_TMP/ca
mkdir -p "$CA"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test-ca" -keyout "$CA/ca.key" -out "$CA/ca.pem" >/dev/null 2>&1 &&
openssl req -newkey rsa:2048 -nodes -subj "/CN=client" -keyout "$CA/client.key" -out "$CA/client.csr" >/dev/null 2>&1 &&
openssl x509 -req -in "$CA/client.csr" -CA "$CA/ca.pem" -CAkey "$CA/ca.key" -CAcreateserial -days 2 -out "$CA/client.pem" >/dev/null 2>&1
ok "made a CA and a client certificate" test -s "$CA/client.pem"
start_registry_custom tcp "  tls:
    certificate: $C/cert.pem
    key: $C/key.pem
    clientcas:
      - $CA/ca.pem" || skip_all "cannot start a registry requiring client certificates"
M=$REGISTRY
"$IMGBUILD" push --root "$IB_TMP/m0" --registry-certificate "$M=$C/cert.pem" "oci:$L" "$M/x:1" >/dev/null 2>&1
is "$?" 1 "without a client certificate the registry refuses us"
out=$("$IMGBUILD" push --root "$IB_TMP/m1" --registry-certificate "$M=$C/cert.pem" \
        --registry-client-cert "$M=$CA/client.pem,$CA/client.key" "oci:$L" "$M/x:1" 2>&1)
like "$out" "^$M/x@sha256:" "--registry-client-cert R=cert,key is presented"
"$IMGBUILD" push --registry-client-cert "bad" "oci:$L" "$M/x:1" >/dev/null 2>&1
is "$?" 2 "a malformed --registry-client-cert is a usage error"
done_testing
