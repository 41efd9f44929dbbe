FROM alpine AS broken
EXPOSE not-a-port
FROM alpine
RUN true
