FROM python:3
RUN python3 <<'EOF'
print("$NOT_EXPANDED")
EOF
