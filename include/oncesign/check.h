/* oncesign — argument and invariant checks, in the manner of libsecp256k1.
 *
 * ARG_CHECK(cond):    the caller broke the function's contract (NULL pointer, length out of range).
 *                     Returns OS_ERR_ARG from the enclosing function.
 * VERIFY_CHECK(cond): an internal invariant that cannot fail unless the code is wrong or memory was
 *                     corrupted. Returns OS_ERR_INTERNAL, so the signer fails closed instead of
 *                     guessing (I6). Both are always compiled in: a signer never trusts NDEBUG.
 * CHECK_OK(expr):     propagates any non-OS_OK status from a call.
 */
#ifndef ONCESIGN_CHECK_H
#define ONCESIGN_CHECK_H

#include "oncesign/status.h"

#define ARG_CHECK(cond) do { if (!(cond)) return OS_ERR_ARG; } while (0)
#define VERIFY_CHECK(cond) do { if (!(cond)) return OS_ERR_INTERNAL; } while (0)
#define CHECK_OK(expr) do { int check_ok_status_ = (expr); \
    if (check_ok_status_ != OS_OK) return check_ok_status_; } while (0)

#endif /* ONCESIGN_CHECK_H */
