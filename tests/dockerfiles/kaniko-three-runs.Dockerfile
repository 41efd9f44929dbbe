FROM node:12
RUN echo a > /a
RUN echo b > /b
RUN echo c > /c
