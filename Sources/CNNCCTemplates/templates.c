/* The fixed C of the generated libraries, the files of templates/, embedded
   at build time with C23 #embed: nncc needs no files beside it, and no copy of the
   templates is checked in. Clang lists embedded files in the dependency file,
   so editing a template rebuilds this one. To add a template: a line here and
   a case in Sources/NNCC/Codegen/Template.swift. */
#include "nncc_templates.h"

#include <stddef.h>
#include <string.h>

#pragma clang diagnostic ignored "-Wc23-extensions"


static const struct {
    const char *name, *text;
} templates[] = {
    {"prologue", (const char[]){
#embed "../../templates/prologue.c"
        , 0}},
    {"gemm", (const char[]){
#embed "../../templates/gemm.c"
        , 0}},
    {"conv", (const char[]){
#embed "../../templates/conv.c"
        , 0}},
    {"conv3d", (const char[]){
#embed "../../templates/conv3d.c"
        , 0}},
    {"depthwise", (const char[]){
#embed "../../templates/depthwise.c"
        , 0}},
    {"pool", (const char[]){
#embed "../../templates/pool.c"
        , 0}},
    {"winograd", (const char[]){
#embed "../../templates/winograd.c"
        , 0}},
    {"safetensors", (const char[]){
#embed "../../templates/safetensors.c"
        , 0}},
    {"train", (const char[]){
#embed "../../templates/train.c"
        , 0}},
    {"dense_train", (const char[]){
#embed "../../templates/dense_train.c"
        , 0}},
    {"conv_train", (const char[]){
#embed "../../templates/conv_train.c"
        , 0}},
    {"pool_train", (const char[]){
#embed "../../templates/pool_train.c"
        , 0}},
    {"batchnorm_train", (const char[]){
#embed "../../templates/batchnorm_train.c"
        , 0}},
    {"winograd_train", (const char[]){
#embed "../../templates/winograd_train.c"
        , 0}},
    {"recurrent_train", (const char[]){
#embed "../../templates/recurrent_train.c"
        , 0}},
    {"conv_transpose", (const char[]){
#embed "../../templates/conv_transpose.c"
        , 0}},
};

const char *nncc_template(const char *name) {
    for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++)
        if (strcmp(templates[i].name, name) == 0) return templates[i].text;
    return NULL;
}
