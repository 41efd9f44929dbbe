FROM alpine
RUN --mount=type=volume,target=/x true
