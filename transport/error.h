/* SPDX-License-Identifier: MIT */
/* The one place nng's error codes become errno values. */
#ifndef TETHER_TP_ERROR_H
#define TETHER_TP_ERROR_H

/* Map an nng error (NNG_E*) to a negative errno; 0 stays 0. */
int tp_errno_from_nng(int rv);

#endif
