FROM alpine
HEALTHCHECK NONE
HEALTHCHECK --interval=30s --timeout=1m30s --start-period=1.5s --start-interval=500ms --retries=3 CMD curl -f http://localhost/ || exit 1
HEALTHCHECK CMD ["/bin/check", "--quick"]
healthcheck cmd true
