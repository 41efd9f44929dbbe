FROM alpine
ARG A=1
ENV B=2
RUN echo $A ${B} "$HOME"
CMD echo $A
