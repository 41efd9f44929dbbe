FROM alpine
ARG NAME=world
COPY <<EOF /etc/greeting
hello $NAME "quotes stay" \$ESCAPED
EOF
COPY <<'EOF' /etc/raw
hello $NAME
EOF
COPY <<-"EOF" /etc/chomped
	indented $NAME
	EOF
