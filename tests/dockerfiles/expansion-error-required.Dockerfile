FROM alpine
ENV X=${MISSING:?required}
