FROM alpine AS base
ENV DIR=/app
ONBUILD WORKDIR $DIR
ONBUILD RUN echo built
RUN echo base
FROM base
RUN echo child
