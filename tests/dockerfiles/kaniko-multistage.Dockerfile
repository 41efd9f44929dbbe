FROM node:12 AS build
RUN echo "hello" > /result.txt
RUN cat /result.txt
FROM node:12
COPY --from=build /result.txt /
