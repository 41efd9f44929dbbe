FROM alpine
ADD --chmod=755 <<EOF /usr/local/bin/hello
#!/bin/sh
echo hello
EOF
