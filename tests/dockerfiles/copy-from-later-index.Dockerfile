FROM alpine AS first
COPY --from=1 /x /x
FROM alpine
