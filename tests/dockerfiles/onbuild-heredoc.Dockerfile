FROM alpine
ONBUILD RUN <<EOF
echo from onbuild heredoc
EOF
