/* httpstatus.h — HTTP status codes' reason phrases.
 *
 * Contract: pure; the returned string is static. */
#ifndef FRUGAL_HTTPSTATUS_H
#define FRUGAL_HTTPSTATUS_H

/* "Not Found" for 404; "OK" for an unknown status below 400, else "Error". */
const char *fg_httpstatus_reason(int status);

#endif
