FROM alpine
ENV X=${MISSING:?is required}
