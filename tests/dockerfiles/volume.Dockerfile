FROM alpine
ARG DATA=/data
VOLUME ["/var/log", "/var/db with space"]
VOLUME /a $DATA
