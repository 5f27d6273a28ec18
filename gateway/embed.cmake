# Turn a text file into `const char jn_default_config[]` (C string literal).
file(READ ${IN} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," content "${content}")
file(WRITE ${OUT} "/* generated from conf/junction.json; do not edit */\n"
  "const char jn_default_config[] = {${content} 0x00};\n")
