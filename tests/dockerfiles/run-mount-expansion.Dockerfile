FROM alpine
ARG CACHE=/var/cache/apk
ENV ID=apk
RUN --mount=type=cache,id=$ID,target=${CACHE} apk add curl
