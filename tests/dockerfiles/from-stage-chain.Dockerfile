FROM alpine AS base
ARG V=1
ENV E=base
SHELL ["/bin/ash", "-c"]
FROM base AS mid
ENV M=$E-mid
FROM mid
LABEL v=$V e=$E m=$M
RUN echo inherited shell
