FROM alpine AS x
FROM busybox AS x
