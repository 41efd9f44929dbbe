FROM alpine
LABEL
