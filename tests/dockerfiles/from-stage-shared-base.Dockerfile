FROM alpine AS base
ENV B=base
ARG A=argval
FROM base AS one
ENV O=$B-one
FROM base AS two
LABEL two=$B-$A o=$O
FROM alpine
COPY --from=one /x /x
COPY --from=two /y /y
