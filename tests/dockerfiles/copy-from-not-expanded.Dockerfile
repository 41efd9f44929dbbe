FROM alpine AS build
FROM alpine
ARG SRC=build
COPY --from=$SRC /x /x
