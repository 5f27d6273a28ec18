# Turn a text file into `const char <VAR>[]` (a C string). IN, OUT, VAR.
file(READ ${IN} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," content "${content}")
file(WRITE ${OUT} "/* generated from ${IN}; do not edit */\n"
  "const char ${VAR}[] = {${content} 0x00};\n")
