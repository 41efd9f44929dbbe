FROM alpine
RUN ["echo", 'single quotes are not JSON']
RUN [ "echo", "trailing" ] garbage
RUN [not json
