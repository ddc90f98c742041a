/* SPDX-License-Identifier: Apache-2.0 */
/* host board service: name and exit. */
#include <stdio.h>
#include <stdlib.h>

#include "hal.h"

const char *hal_board_name(void) { return "host"; }

void hal_exit(int code)
{
    fflush(stdout);
    exit(code);
}
