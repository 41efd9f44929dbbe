FROM alpine
RUN ["cat", "<<EOF"]
CMD <<EOF
