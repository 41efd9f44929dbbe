FROM alpine AS assets
RUN touch /a
FROM alpine AS base
ONBUILD COPY --from=assets /a /a
FROM base
RUN ls /a
