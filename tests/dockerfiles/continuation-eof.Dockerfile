FROM alpine
RUN echo dangling \
