FROM alpine
EXPOSE 80/quic
