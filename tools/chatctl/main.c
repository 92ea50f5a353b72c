/* chatctl: the command line that stands in for the user service during
 * development and tests (users, profiles, follows, blocks, tokens,
 * revocations). This file reads the command words and dispatches. */
#include "chatctl.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: chatctl COMMAND [ARGS]\n"
    "\n"
    "Stands in for the user service: writes its tables in the database that\n"
    "DATABASE_URL names (default sqlite:./data/chat.db) and mints the tokens it\n"
    "would issue, signed with JWT_SECRET.\n"
    "\n"
    "  init                          create the user-service tables (idempotent)\n"
    "  user add NAME [--id N] [--display-name X] [--picture URL]\n"
    "                                add a user, print its id\n"
    "  user show USER                print the user's id and username\n"
    "  user del USER                 delete a user with its profile, follows, blocks\n"
    "  profile set USER [--display-name X] [--picture URL]\n"
    "                                change a profile (\"\" clears a field)\n"
    "  follow A B                    A follows B\n"
    "  unfollow A B                  A stops following B\n"
    "  block A B                     A blocks B\n"
    "  unblock A B                   A unblocks B\n"
    "  token USER [--ttl SECONDS] [--jti ID]\n"
    "                                print an HS256 token for USER (ttl 3600 by\n"
    "                                default, negative for an expired one; jti a\n"
    "                                random UUID unless given)\n"
    "  revoke JTI                    revoke the token with that jti\n"
    "  bench-users N [--first-id ID] users bench<ID>..bench<ID+N-1> with those ids\n"
    "                                (ID 1 by default), each pair ID+2k, ID+2k+1\n"
    "                                following each other (idempotent)\n"
    "  help                          this text\n"
    "\n"
    "USER, A and B are a numeric user id or a username. Exit status 0 on success,\n"
    "1 with a one-line error otherwise.\n";

static const struct {
    const char *word;
    const char *subword; /* NULL: a one-word command */
    int (*run)(int argc, char **argv);
} commands[] = {
    {"init", NULL, chatctl_init},
    {"user", "add", chatctl_user_add},
    {"user", "del", chatctl_user_del},
    {"user", "show", chatctl_user_show},
    {"profile", "set", chatctl_profile_set},
    {"follow", NULL, chatctl_follow},
    {"unfollow", NULL, chatctl_unfollow},
    {"block", NULL, chatctl_block},
    {"unblock", NULL, chatctl_unblock},
    {"token", NULL, chatctl_token},
    {"revoke", NULL, chatctl_revoke},
    {"bench-users", NULL, chatctl_bench_users},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 1;
    }
    const char *word = argv[1];
    if (strcmp(word, "help") == 0 || strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].word, word) != 0) continue;
        if (!commands[i].subword) return commands[i].run(argc - 2, argv + 2);
        if (argc > 2 && strcmp(commands[i].subword, argv[2]) == 0)
            return commands[i].run(argc - 3, argv + 3);
    }
    if (argc > 2 && (strcmp(word, "user") == 0 || strcmp(word, "profile") == 0))
        return chatctl_fail("unknown command '%s %s' (chatctl help lists them)", word, argv[2]);
    return chatctl_fail("unknown command '%s' (chatctl help lists them)", word);
}
