FROM alpine
RUN echo crlf \
    continued
LABEL k=v
