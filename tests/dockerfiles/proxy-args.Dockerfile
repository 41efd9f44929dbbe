FROM alpine
RUN wget http://example.com/
LABEL p=$HTTP_PROXY
