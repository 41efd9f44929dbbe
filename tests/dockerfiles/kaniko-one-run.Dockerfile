FROM node:12
RUN echo a > /a && \
    echo b > /b && \
    echo c > /c
