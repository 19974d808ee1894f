#ifndef NNCC_TEMPLATES_H
#define NNCC_TEMPLATES_H

/* The text of templates/NAME.c (NAME without ".c"), built into the binary at
   compile time; NULL for an unknown name. */
const char *nncc_template(const char *name);

#endif
