FROM --platform=linux/arm64 alpine AS arm
FROM --platform=$TARGETPLATFORM alpine
COPY --from=arm /x /x
