# no FROM
RUN echo hi
