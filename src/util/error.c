/* Maps chatd error codes to their protocol strings and messages. */
#include "util/error.h"

static const struct {
    const char *code;
    const char *message;
} error_table[] = {
#define CHAT_ERROR_ROW(name, code, message) {code, message},
    CHAT_ERROR_TABLE(CHAT_ERROR_ROW)
#undef CHAT_ERROR_ROW
};

static int error_index(int err)
{
    int index = err - CHAT_ERROR_FIRST_ - 1;
    if (index < 0 || index >= (int)(sizeof error_table / sizeof error_table[0])) return -1;
    return index;
}

const char *chat_error_code(int err)
{
    int index = error_index(err);
    return index < 0 ? "internal" : error_table[index].code;
}

const char *chat_error_message(int err)
{
    int index = error_index(err);
    return index < 0 ? "internal error" : error_table[index].message;
}
