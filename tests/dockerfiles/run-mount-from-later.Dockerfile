FROM alpine AS first
RUN --mount=from=second,target=/s ls /s
FROM alpine AS second
