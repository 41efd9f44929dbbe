FROM alpine
RUN echo > /x
FROM alpine AS second
COPY --from=0 /x /y
