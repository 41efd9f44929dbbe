FROM alpine AS Build
FROM alpine
COPY --from=BUILD /x /x
