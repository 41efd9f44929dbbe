FROM alpine AS unused
RUN echo never built
STOPSIGNAL NOT_A_SIGNAL
FROM alpine AS deps
RUN echo deps
FROM golang AS build
COPY --from=deps / /deps
RUN go build
FROM alpine
COPY --from=build /app /app
