/* SPDX-License-Identifier: MIT */
/* One-line messages for the user. */
#ifndef PYMAC_MSG_H
#define PYMAC_MSG_H

/* Print "pymac: " + message + newline on stderr. */
void pm_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* PYMAC_MSG_H */
