package main

import (
	"fmt"
	"github.com/nats-io/nats.go"
	"log"
)

func main() {
	nc, _ := nats.Connect("localhost:4222")
	defer nc.Close()
	js, _ := nc.JetStream()

	// 创建bucket
	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{
		Bucket: "mybkt",
	})

	if err != nil {
		log.Println(err)
		return
	}

	// 读写数据
	kv.Put("orderNo", []byte("1000101"))

	enty, _ := kv.Get("orderNo")
	fmt.Println(string(enty.Value()))
}
