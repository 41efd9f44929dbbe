FROM alpine
RUN echo one \
    two \
# a comment line inside the continuation
    three \

    four \   
  # indented comment
    five
LABEL a=1 \
      b=2
