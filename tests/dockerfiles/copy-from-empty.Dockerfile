FROM alpine
COPY --from= /x /y
